"""The request's booking links (its public URL and the rooms' signer), as a dependency."""

from typing import Annotated

from fastapi import Depends, Request

from callgrid.bookings.render import BookingLinks


async def _links(request: Request) -> BookingLinks:
    return BookingLinks(request.app.state.settings.public_url, request.app.state.rooms.signer)


Links = Annotated[BookingLinks, Depends(_links)]
