"""The leaderboard page in a real headless browser (Chromium from Debian's packages, driven by Selenium):
the table and the curves render, and clicking a column header sorts the rows."""

import os
import shutil

import pytest

from bench.results.leaderboard import build_boards
from bench.results.pages import html_page
from tests.made_records import made_record, made_sweep

CURVES = {
    "none": [(0.8, 0.8, 0.85, 0.9)] * 3,
    "concept-neurons": [(0.2, 0.2, 0.3, 0.4), (0.2, 0.25, 0.3, 0.35), (0.2, 0.2, 0.35, 0.4)],
    "keyword": [(0.2, 0.5, 0.6, 0.7), (0.2, 0.4, 0.6, 0.7), (0.2, 0.5, 0.55, 0.7)],
}


def browser_binaries():
    chromium = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    return chromium, shutil.which("chromedriver")


@pytest.fixture
def browser():
    chromium, driver_path = browser_binaries()
    if not (chromium and driver_path):
        message = "needs chromium and chromedriver (Debian: apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI installs them with the README's test command")
        pytest.skip(message)
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1100"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def page(tmp_path):
    records = made_sweep(CURVES) + [made_record("llm-select", s, unlearned=0.7, relearn=(0.7, 0.75, 0.8, 0.8))
                                    for s in range(3)]
    # Random pruning of the same size removes little: the methods are distinguishable from it.
    records += [made_record("random", s, unlearned=0.78 - 0.01 * s, relearn=(0.78 - 0.01 * s, 0.8, 0.8, 0.8))
                for s in range(3)]
    (board,) = build_boards(records)
    path = tmp_path / "board.html"
    path.write_text(html_page(board))
    return path, board


def column(driver, index):
    from selenium.webdriver.common.by import By

    return [row.find_elements(By.TAG_NAME, "td")[index].text for row in driver.find_elements(By.CSS_SELECTOR, "#board tbody tr")]


def test_the_page_renders_its_table_and_curves_and_sorts_by_a_clicked_column(browser, page, tmp_path):
    from PIL import Image
    from selenium.webdriver.common.by import By

    path, board = page
    browser.get(path.as_uri())
    assert browser.title == "relearn-bench leaderboard: ner (geo-loc)"
    assert "Ranking rule" in browser.find_element(By.ID, "ranking-rule").text
    assert "never a zero" in browser.find_element(By.ID, "undefined").text  # what an empty (–) cell means
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#board th")]
    assert headers[:4] == ["rank", "method", "score", "forgetting"]
    assert column(browser, 1) == [e.label for e in board.entries]  # ranked first, then unranked, then controls
    assert column(browser, 0)[:2] == ["1", "2"]  # rank groups: the two intervals do not overlap
    rt90 = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#board th")].index("rt90")
    assert column(browser, rt90)[0] == "> 64"  # not reached within the attack, not "never" and not empty

    # The curves: one line per entry in each panel, drawn inside the figure and visible.
    svg = browser.find_element(By.CSS_SELECTOR, "#curves svg")
    assert svg.size["width"] > 600 and svg.size["height"] > 200
    lines = browser.find_elements(By.CSS_SELECTOR, "#curves svg g[id^='curve-'] path")
    assert len(lines) >= 2 * len(board.entries) - 1  # the `none` control has no r(t), only its target curve

    shot = tmp_path / "page.png"
    assert browser.save_screenshot(str(shot))
    image = Image.open(shot).convert("RGB")
    assert image.size[0] >= 1000
    colours = image.resize((200, 150)).getcolors(maxcolors=200 * 150)
    assert len(colours) > 50  # a rendered page, not a blank canvas

    score = browser.find_elements(By.CSS_SELECTOR, "#board th")[2]
    score.click()  # ascending: the lowest score first; entries without a score (controls) last
    ascending = [e.label for e in sorted((e for e in board.entries if e.stats["score"].mean is not None),
                                         key=lambda e: e.stats["score"].mean)]
    assert column(browser, 1)[:len(ascending)] == ascending
    assert score.get_attribute("aria-sort") == "ascending"
    score.click()
    assert column(browser, 1)[:len(ascending)] == ascending[::-1]
    assert score.get_attribute("aria-sort") == "descending"
    method = browser.find_elements(By.CSS_SELECTOR, "#board th")[1]
    method.click()
    assert column(browser, 1) == sorted(e.label for e in board.entries)
