"""The answer renderer: code is highlighted and math becomes MathML, and whatever the new
renderers emit still passes the allow-list (hostile Markdown, LaTeX and code stay inert)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from app.config import Settings
from app.storage.images import FORMATS_TEXT
from app.web.render import ALLOWED_TAGS, render_markdown
from app.web.uploads import upload_rules


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def elements(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    return parser


def test_fenced_code_with_a_language_is_highlighted() -> None:
    html = render_markdown("```python\ndef area(r):\n    return 3.14 * r ** 2  # circle\n```")
    assert '<pre tabindex="0"><code class="language-python">' in html
    assert '<span class="k">def</span>' in html and '<span class="c1"># circle</span>' in html
    assert "".join(elements(html).text).startswith("def area(r):")  # the text is unchanged
    plain = render_markdown("```\n<b>x</b>\n```")  # no language: escaped, not guessed
    assert "<span" not in plain and "&lt;b&gt;x&lt;/b&gt;" in plain


@pytest.mark.parametrize(
    ("source", "display", "inner"),
    [
        ("The area is $x^2$.", "inline", "<msup><mi>x</mi><mn>2</mn></msup>"),
        (r"Or \(\frac{a}{b}\) inline.", "inline", "<mfrac>"),
        ("$$\n\\sum_{i=1}^{n} i\n$$", "block", "<mo>∑</mo>"),
        ("\\[\n\\sqrt{2}\n\\]", "block", "<msqrt>"),
    ],
)
def test_latex_becomes_mathml(source: str, display: str, inner: str) -> None:
    html = render_markdown(source)
    assert f'<math display="{display}">' in html and inner in html, html


def test_dollar_amounts_stay_text() -> None:
    html = render_markdown("It costs $5 and $10, or $ 3 $.")
    assert "<math" not in html and "$5 and $10" in html


@pytest.mark.parametrize(
    "payload",
    [
        "<script>window.pwned=1</script>",
        "<img src=x onerror=alert(1)>",
        "[click](javascript:alert(1))",
        "<iframe src=//evil></iframe>",
        "<svg onload=alert(1)><script>alert(1)</script></svg>",
        "<style>body{display:none}</style>",
        "<math><mtext><style><img src=x onerror=alert(1)></style></mtext></math>",
        r"$\href{javascript:alert(1)}{click}$",
        r"$\style{background:url(https://evil/x)}{y}$",
        r"$\text{<img src=x onerror=alert(1)>}$",
        r"$\text{</math><script>alert(1)</script>}$",
        r"$\color{white}{hidden}$",
        r"$$\frac{1}{$$",
        "```html\n</code></pre><script>alert(1)</script>\n```",
        "```js onload=alert(1)\nx\n```",
    ],
)
def test_hostile_answers_stay_inert(payload: str) -> None:
    html = render_markdown(f"**hi** {payload}")
    assert "<strong>hi</strong>" in html
    for tag, attrs in elements(html).found:
        assert tag in ALLOWED_TAGS, (tag, html)
        for name, value in attrs.items():
            assert (
                not name.startswith("on")
                and name not in {"style", "href", "src"}
                or (tag == "a" and name == "href")
            ), (tag, name, html)
            v = (value or "").strip().lower()
            assert "javascript:" not in v and "url(" not in v, (tag, name, html)
            assert not (name == "class" and "onload" in v), html
    assert "<script" not in html and "<style" not in html and "<img" not in html


def test_broken_math_is_shown_as_its_source() -> None:
    html = render_markdown(r"$\frac{$ then text")
    assert '<code class="math-source">\\frac{</code>' in html


def test_upload_rules_come_from_the_settings() -> None:
    settings = Settings(
        max_upload_bytes=3 * 1024 * 1024, max_image_pixels=12_000_000, max_image_side=1024
    )
    rules = upload_rules(settings)
    assert rules.accept == "image/jpeg,image/png,image/webp,image/gif"
    assert rules.max_bytes == 3 * 1024 * 1024
    assert rules.text.startswith(FORMATS_TEXT) and FORMATS_TEXT == "JPEG, PNG, WebP or GIF"
    assert "3 MiB" in rules.text and "12 megapixels" in rules.text and "1024 px" in rules.text
