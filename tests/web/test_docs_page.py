"""/docs (Swagger UI) and /redoc in a real browser with every request to another host blocked:
the pages, their scripts and styles and the document all come from Callgrid itself. On /docs
a user authorizes with an API key and runs an operation, and sees its answer."""

from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.servers import Served, callgrid_env

# slow: a server process, a browser. The module's tests share its server (module-scoped
# fixtures): they go to one test process (xdist_group), which starts it once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("web-docs-page")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("docs-page")
    served = Served(callgrid_env(f"sqlite+aiosqlite:///{folder / 'callgrid.db'}"), log=folder / "serve.log")
    assert served.first_key
    yield served
    served.stop()


async def offline(pages, label: str, server: Served, path: str):
    """`path` opened with every request to another host refused; returns the page and the list
    of the refused requests' URLs (filled as the page runs)."""
    own = urlsplit(server.base_url).netloc
    refused: list[str] = []

    async def only_our_host(route):
        url = route.request.url
        if urlsplit(url).netloc == own or url.startswith(("data:", "blob:")):
            await route.continue_()
        else:
            refused.append(url)
            await route.abort("blockedbyclient")

    page = await pages.open(label, "about:blank")
    await page.context.route("**/*", only_our_host)
    # The page's own policy refuses other hosts before any request (ReDoc's attribution logo):
    # those are listed as asked for too, unless they are images (which the page does without).
    page.on("console", lambda message: _policy_refusal(message, refused))
    await page.goto(f"{server.base_url}{path}")
    return page, refused


def _policy_refusal(message, refused: list[str]) -> None:
    if message.type == "error" and "Content Security Policy" in message.text and "img-src" not in message.text:
        refused.append(message.text)


async def test_docs_authorize_with_a_key_and_run_an_operation(server, pages):
    async with httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": f"Bearer {server.first_key}"},
                                 trust_env=False, timeout=20) as client:
        created = await client.post("/v1/rooms", json={"name": "Docs Room", "type": "open"})
        assert created.status_code == 200, created.text

    page, refused = await offline(pages, "docs", server, "/docs")
    await page.wait_for_selector(".swagger-ui .info .title:has-text('Callgrid')")

    operation = page.locator("#operations-rooms-list_rooms_v1_rooms_get")
    await operation.locator(".opblock-summary").first.click()
    await operation.get_by_role("button", name="Try it out").click()

    # Unauthorized first: the operation's lock is open and the answer is the 401 problem.
    await operation.get_by_role("button", name="Execute").click()
    answer = operation.locator(".live-responses-table .response")
    await answer.locator(".response-col_status:has-text('401')").wait_for()

    # Authorize: the bearer scheme's dialog takes the key.
    await page.locator(".auth-wrapper button.authorize").click()
    dialog = page.locator(".modal-ux")
    await dialog.locator("input").first.fill(server.first_key)
    await dialog.locator(".auth-btn-wrapper button.authorize").click()
    await dialog.locator("button.btn-done").click()
    await page.locator(".modal-ux").wait_for(state="detached")

    await operation.get_by_role("button", name="Execute").click()
    await answer.locator(".response-col_status:has-text('200')").wait_for()
    body = await answer.locator(".response-col_description .microlight").first.inner_text()
    assert "Docs Room" in body and '"paging"' in body
    curl = await operation.locator(".curl-command").inner_text()
    assert f"Authorization: Bearer {server.first_key}" in curl
    assert refused == [], f"the page asked other hosts: {refused}"


async def test_redoc_renders_offline(server, pages):
    page, refused = await offline(pages, "redoc", server, "/redoc")
    await page.wait_for_selector("h1:has-text('Callgrid')")
    await page.locator("h2").first.wait_for()  # the operations, with their authorizations
    await page.get_by_text("AUTHORIZATIONS:").first.wait_for()
    assert refused == [], f"the page asked other hosts: {refused}"
