from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A request body: a field the contract does not have is refused, naming it."""

    model_config = ConfigDict(extra="forbid")
