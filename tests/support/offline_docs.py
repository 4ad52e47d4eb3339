"""`/docs` of a service loads with nothing from outside: every file its page names is the service's own."""

import re

import httpx

# src="...", href="...", url: '...' (the OpenAPI document) in Swagger UI's page.
_REFERENCES = re.compile(r"""(?:src|href)="([^"]+)"|url: '([^']+)'""")


async def assert_docs_offline(client: httpx.AsyncClient) -> list[str]:
    """Fetches `/docs` and every file it references; returns the references."""
    page = await client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), page.text[:300]
    html = page.text
    assert re.findall(r"(?:https?:)?//[^'\"\s]*", html) == [], "the page names another origin"
    references = [a or b for a, b in _REFERENCES.findall(html)]
    assert len(references) >= 4, references  # the CSS, the icon, the script and the document
    for reference in references:
        assert reference.startswith("/"), reference
        answer = await client.get(reference)
        assert answer.status_code == 200 and answer.content, reference
    script = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.headers["content-type"].startswith("text/javascript") and b"SwaggerUIBundle" in script.content
    assert (await client.get("/docs/assets/swagger-ui.css")).headers["content-type"].startswith("text/css")
    assert "Apache License" in (await client.get("/docs/assets/LICENSE")).text  # shipped with its licence
    assert (await client.get("/docs/oauth2-redirect")).status_code == 200
    return references
