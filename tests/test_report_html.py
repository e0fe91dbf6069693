"""``cnncost report``: one self-contained HTML file. Its numbers are checked against the CLI's CSV and
first-principles arithmetic, its self-containment by parsing it, and its table's sorting and folding,
its charts and its console in a real headless Chromium (one browser for the module; skipped, with the
reason, where /usr/bin/chromium or chromedriver is absent: ``make browser`` installs them).

``CNNCOST_REPORT_PNG=docs/images/report-resnet50.png pytest tests/test_report_html.py -k screenshot``
remakes the docs' screenshot.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnncost import analyze
from cnncost.analysis.memory import memory
from cnncost.cli import app
from cnncost.report.html import NO_PLOT, NO_TORCH, NO_VERIFY, Verification, html_report
from tests.test_hostile_input import run_cli

runner = CliRunner()
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


# -- a tiny DOM (html.parser), for reading the page without a browser ------------------------
@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def all(self, tag: str, cls: str | None = None) -> list[Node]:
        found = [self] if self.tag == tag and (cls is None or cls in self.attrs.get("class", "").split()) else []
        return found + [n for c in self.children for n in c.all(tag, cls)]

    def content(self) -> str:
        return self.text + "".join(c.content() for c in self.children)


class Tree(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]
        self.attributes: list[tuple[str, str, str]] = []  # (tag, name, value) of every attribute
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.attributes += [(tag, k, v or "") for k, v in attrs]
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attributes += [(tag, k, v or "") for k, v in attrs]
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(Node("#text", {}, text=data))


def cli_csv(*args: str) -> list[dict[str, str]]:
    r = runner.invoke(app, [*args, "--format", "csv"])
    assert r.exit_code == 0, r.output
    return list(csv.DictReader(io.StringIO(r.stdout)))


def summary(page: Node, i: int) -> dict[str, str]:
    """Model ``i``'s summary list: label → value."""
    dl = page.all("dl", "summary")[i]
    terms = [n.content() for n in dl.all("dt")]
    return dict(zip(terms, [n.content() for n in dl.all("dd")], strict=True))


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> tuple[str, Node]:
    """``cnncost report lenet5 resnet50``: the comparison, then lenet5 (``#m0``), then resnet50 (``#m1``)."""
    out = tmp_path_factory.mktemp("report") / "report.html"
    r = runner.invoke(app, ["report", "lenet5", "resnet50", "--no-verify", "-o", str(out)])
    assert r.exit_code == 0, r.output
    text = out.read_text(encoding="utf-8")
    return text, Tree(text).root


# -- self-contained, escaped ---------------------------------------------------------------------
EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:|//)", re.I)
"""A reference that leaves the page: any scheme (http:, https:, file:, ...) or a protocol-relative //."""


def test_the_page_references_nothing_outside_itself(page):
    text, _ = page
    tree = Tree(text)
    refs = [(tag, k, v) for tag, k, v in tree.attributes if k in ("src", "href", "xlink:href", "action", "srcset")]
    assert refs, "the page has internal links (#m0, #conventions) and the SVGs' xlink:href"
    outside = [(tag, k, v) for tag, k, v in refs if EXTERNAL.match(v) and not v.startswith("data:")]
    assert outside == []
    assert not [t for t in ("link", "iframe", "object", "embed", "img", "base") if tree.root.all(t)]
    assert not [k for t, k, _ in tree.attributes if t == "script" and k == "src"]
    styles = [n.content() for n in tree.root.all("style")] + [v for _, k, v in tree.attributes if k == "style"]
    css = "\n".join(styles)
    assert "@import" not in css
    for url in re.findall(r"url\(\s*['\"]?([^'\")]*)", css):
        assert not EXTERNAL.match(url) or url.startswith("data:"), url
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", text, re.I)  # no loophole in the parse
    csp = [n.attrs["content"] for n in tree.root.all("meta") if n.attrs.get("http-equiv") == "Content-Security-Policy"]
    assert csp and csp[0].startswith("default-src 'none'")


def test_markup_in_a_title_a_name_and_a_warning_is_text(write_spec, tmp_path):
    """A title with a script, and a file (so a model name, chart labels and a warning) named as an image tag."""
    spec = write_spec(
        "title: <script>alert(1)</script>\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 4, k: 3, s: 2}\n",
        name="<img src=x onerror=alert(2)>.yaml",
    )
    out = tmp_path / "r.html"
    r = runner.invoke(app, ["report", str(spec), "--no-verify", "-o", str(out)])
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<img src=x" not in text
    tree = Tree(text).root
    assert len(tree.all("script")) == 1 and tree.all("img") == []  # the page's own script, no image
    name = "<img src=x onerror=alert(2)>"
    assert f"{name} — <script>alert(1)</script>" in [h.content() for h in tree.all("h2")]
    (warning,) = [li.content() for ul in tree.all("ul", "warnings") for li in ul.all("li")]
    assert f"{name}.yaml:4: conv1: stride 2 does not tile the input" in warning  # (8 - 3) / 2 + 1 = 3.5


# -- the numbers: the same as the CLI's, and as arithmetic ---------------------------------------
def test_summary_figures(page):
    s = summary(page[1], 1)
    assert s["params"] == "25,557,032 (25.56M)"  # torchvision's ResNet50_Weights metadata: 25,557,032
    # 4,089,184,256 multiply-adds: torch's FlopCounterMode counts 8,178,368,512 FLOPs for torchvision's resnet50
    assert s["MACs (conv+linear)"] == "4,089,184,256 (4.089G)"
    assert s["FLOPs (2×MACs, conv+linear)"] == "8,178,368,512 (8.178G)"
    assert s["input"] == "3×224×224" and s["batch"] == "1" and s["depth (conv + linear layers)"] == "54"
    assert s["published top1 error (%)"] == str(analyze("resnet50").model.accuracy["top1_error"])


def test_layer_rows_are_the_table_commands_rows_with_exact_values(page):
    page = page[1]
    table = next(t for t in page.all("table", "layers") if t.attrs["id"] == "m1-layers")
    rows = [r for r in table.all("tr") if "layer" in r.attrs.get("class", "").split()]
    expected = cli_csv("table", "resnet50")[:-1]  # the CSV's last row is the total
    assert [r.all("td")[0].content() for r in rows] == [e["layer"] for e in expected]
    for row, e in zip(rows, expected, strict=True):
        cells = row.all("td")
        assert [int(c.attrs["data-v"]) for c in cells[3:6]] == [
            int(e["params"]),
            int(e["MACs (conv+linear)"]),
            int(e["activations (elements)"]),
        ]
        assert int(cells[6].attrs["data-v"]) == 4 * int(e["activations (elements)"])  # fp32: 4 bytes each
    groups = [r for r in table.all("tr", "group")]
    names = [e["layer"].split(".") for e in expected]
    prefixes = {".".join(n[:d]) for n in names for d in range(1, len(n))}
    assert sorted(g.all("td")[0].content() for g in groups) == sorted(prefixes)
    conv4 = next(g for g in groups if g.all("td")[0].content() == "conv4_x")
    # ResNet-50 v1.5 conv4_x at 14×14 (stride on the 3×3): block 0 reads 512×28×28, blocks 1-5 1024×14×14
    block0 = 28 * 28 * 512 * 256 + 14 * 14 * 256 * 256 * 9 + 14 * 14 * 256 * 1024 + 14 * 14 * 512 * 1024
    later = 14 * 14 * 1024 * 256 + 14 * 14 * 256 * 256 * 9 + 14 * 14 * 256 * 1024
    assert int(conv4.all("td")[4].attrs["data-v"]) == block0 + 5 * later == 1_464_336_384
    foot = table.all("tfoot")[0].all("td")
    assert int(foot[3].attrs["data-v"]) == 25_557_032 and int(foot[4].attrs["data-v"]) == 4_089_184_256


def test_compare_section_first_with_the_compare_commands_figures(page):
    text, tree = page
    assert text.index('id="compare"') < text.index('id="m0"') < text.index('id="m1"')
    compare = next(s for s in tree.all("section") if s.attrs.get("id") == "compare")
    first = compare.all("table")[0]
    params = next(r for r in first.all("tr") if r.all("td") and r.all("td")[0].content() == "params")
    # LeNet-5: c1 6·(25+1) + c3 16·(6·25+1) + c5 120·(16·25+1) + f6 84·121 + output 10·85
    lenet_params = 6 * 26 + 16 * 151 + 120 * 401 + 84 * 121 + 10 * 85
    assert [c.content() for c in params.all("td")[1:]] == [
        f"{lenet_params:,} (61.71K)",
        f"25,557,032 (25.56M) ×{25_557_032 / lenet_params:.2f}",
    ]
    assert summary(tree, 0)["params"] == "61,706 (61.71K)"
    labels = [f.attrs["aria-label"] for f in compare.all("figure")]
    if importlib.util.find_spec("matplotlib"):
        assert labels == ["comparison", "published accuracy"]  # resnet50 has a published top-1
        caption = compare.all("figure")[1].all("figcaption")[0].content()
        assert "no published top-1 accuracy for lenet5" in caption


def test_without_matplotlib_one_line_says_how_to_get_the_charts(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    a = analyze("lenet5")
    text = html_report([(a, memory(a))])
    notes = [n.content() for n in Tree(text).root.all("p", "note")]
    assert NO_PLOT in notes and "pip install 'cnncost[plot]'" in NO_PLOT
    assert "<svg" not in text and '<tr class="layer"' in text


# -- verify ------------------------------------------------------------------------------------
def checks_of(text: str) -> tuple[list[list[str]], list[str]]:
    page = Tree(text).root
    tables = page.all("table", "checks")
    rows = [[c.content() for c in r.all("td")] for t in tables for r in t.all("tr") if r.all("td")]
    return rows, [n.content() for n in page.all("p", "note")]


def test_checks_without_torch_say_why(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # no charts: not what this test is about
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    out = tmp_path / "r.html"
    code, _, err = run_cli(monkeypatch, capsys, "report", "lenet5", "-o", str(out))
    assert code == 0 and "wrote" in err
    rows, notes = checks_of(out.read_text())
    assert NO_TORCH in notes
    # the paper checks need no torch: LeNet-5's paper says "60,000 trainable parameters" (another C3 layout)
    assert [r[0] for r in rows] == ["differs"] and rows[0][3:5] == ["60K", "61,706"]


def test_no_verify(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    a = analyze("lenet5")
    rows, notes = checks_of(html_report([(a, memory(a))]))
    assert rows == [] and NO_VERIFY in notes
    rows, notes = checks_of(html_report([(a, memory(a))], verification=[Verification()]))
    assert rows == [] and any("no published numbers" in n for n in notes)


@pytest.mark.slow  # importing torch alone takes seconds
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="the torch checks need torch")
def test_checks_with_torch(tmp_path):
    out = tmp_path / "r.html"
    r = runner.invoke(app, ["report", "lenet5", "-o", str(out)])
    assert r.exit_code == 0, r.output
    rows, _ = checks_of(out.read_text())
    by_check = {r[2]: r for r in rows}
    assert by_check["params (trainable)"][3:5] == ["61,706", "61,706"]  # torch's sum of p.numel()
    assert by_check["FlopCounterMode = 2×MACs"][3:5] == ["833,040", "833,040"]  # torch: 2 × 416,520
    assert all(r[0] == "✓" for r in rows if not r[2].startswith("paper"))


# -- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchnet"], "error: unknown model 'nosuchnet'"),
        (["lenet5", "-c", "gflops"], "error: unknown --convention 'gflops'"),
        (["lenet5", "-o", "/nonexistent/dir/r.html"], "error: cannot write '/nonexistent/dir/r.html'"),
        (["lenet5", "--input", "3x0x4"], "error: bad --input '3x0x4'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(monkeypatch, capsys, args, message):
    code, out, err = run_cli(monkeypatch, capsys, "report", *args, "--no-verify")
    assert code == 2 and out == ""
    assert err.startswith(message) and err.count("\n") == 1, err


# -- in a real browser ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(f"needs {CHROMIUM} and {CHROMEDRIVER} (make browser installs them)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)  # both paths given: Selenium Manager never downloads anything
    profile = tempfile.mkdtemp(prefix="cnncost-chromium-")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,1400",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def opened(browser, page, tmp_path_factory):
    """The resnet50 report (as ``cnncost report`` wrote it) open in the browser, its console read."""
    path = tmp_path_factory.mktemp("open") / "report.html"
    path.write_text(page[0], encoding="utf-8")
    browser.get(path.as_uri())
    return browser, browser.get_log("browser")


def rows(driver, cls: str = ""):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, f"#m1-layers tbody tr{cls}")


def test_browser_console_has_no_errors(opened):
    _, log = opened
    assert [e for e in log if e["level"] == "SEVERE"] == []


def test_browser_table_rows_are_the_analysis_rows(opened):
    driver, _ = opened
    a = analyze("resnet50")
    prefixes = {r.path[:d] for r in a.layers for d in range(1, len(r.path))}
    assert len(rows(driver, ".layer")) == len(a.layers)
    assert len(rows(driver, ".group")) == len(prefixes)
    assert len(rows(driver)) == len(a.layers) + len(prefixes)


def test_browser_sorts_by_a_numeric_header_and_back(opened):
    from selenium.webdriver.common.by import By

    driver, _ = opened
    header = driver.find_elements(By.CSS_SELECTOR, "#m1-layers thead th")[4]  # MACs (conv+linear)
    assert header.text.startswith("MACs")

    def first() -> tuple[str, int]:
        cells = rows(driver)[0].find_elements(By.TAG_NAME, "td")
        return cells[0].text, int(cells[4].get_attribute("data-v"))

    assert first() == ("input", 0)
    header.click()  # descending: the stage with the most MACs leads (siblings sort, each with its children)
    assert first() == ("conv4_x", 1_464_336_384)
    header.click()  # ascending
    assert first()[1] == 0
    header.click()  # the network's order again
    assert first() == ("input", 0)


def test_browser_folds_a_group_and_collapses_to_a_depth(opened):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver, _ = opened
    group = driver.find_element(By.XPATH, "//table[@id='m1-layers']//tr[@class='group'][td[1]='conv2_x']")
    kids = rows(driver, f'[data-parent="{group.get_attribute("data-id")}"]')
    assert [k.text.split()[0] for k in kids] == ["conv2_x.0", "conv2_x.1", "conv2_x.2"]
    assert all(k.is_displayed() for k in kids)
    group.click()
    assert not any(k.is_displayed() for k in kids)
    group.click()
    assert all(k.is_displayed() for k in kids)
    levels = Select(driver.find_element(By.ID, "m1-layers-levels"))
    levels.select_by_value("1")
    assert shown(driver) == cli_names("table", "resnet50", "--depth", "1")
    levels.select_by_value("all")
    assert len(shown(driver)) == len(rows(driver))


def shown(driver) -> list[str]:
    """The first cell of each displayed layer-table row, in page order (one round trip)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#m1-layers tbody tr'))"
        ".filter(r => r.getClientRects().length > 0).map(r => r.cells[0].textContent)"
    )


def cli_names(*args: str) -> list[str]:
    return [row["layer"] for row in cli_csv(*args)[:-1]]


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="the charts need matplotlib")
def test_browser_draws_the_charts_and_the_page_is_not_blank(opened):
    from selenium.webdriver.common.by import By

    driver, _ = opened
    charts = driver.find_elements(By.CSS_SELECTOR, "figure > svg")
    assert len(charts) == 2 + 2 * 3  # comparison, accuracy; per model: per layer, memory, receptive field
    for svg in charts:
        assert svg.size["width"] > 100 and svg.size["height"] > 100
        assert len(svg.find_elements(By.TAG_NAME, "path")) > 10
    driver.execute_script("window.scrollTo(0, 0)")
    png = driver.get_screenshot_as_png()
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    low, high = image.getextrema()
    assert high - low > 200 and len(image.getcolors(maxcolors=256 * 256) or range(257)) > 16


@pytest.mark.skipif(not os.environ.get("CNNCOST_REPORT_PNG"), reason="set CNNCOST_REPORT_PNG=FILE to remake it")
def test_screenshot_for_the_docs(browser, tmp_path):
    """The docs' example: the top of ``cnncost report resnet50`` (summary, memory, the per-layer chart)."""
    from PIL import Image

    out = tmp_path / "report.html"
    assert runner.invoke(app, ["report", "resnet50", "--no-verify", "-o", str(out)]).exit_code == 0
    browser.set_window_size(1400, 1000)
    browser.get(out.as_uri())
    image = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")
    path = Path(os.environ["CNNCOST_REPORT_PNG"])
    image.quantize(colors=48).save(path, optimize=True)
    assert path.stat().st_size <= 150_000
