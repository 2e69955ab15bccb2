"""`make test` ends with what it did not cover: every skip reason, its count and its files."""

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

HOOK = "from tests.skip_summary import pytest_terminal_summary  # noqa: F401\n"


def test_a_run_that_skipped_says_which_suites_and_why(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(HOOK)
    pytester.makepyfile(
        test_browser="""
import pytest
def test_page(): pytest.skip("/usr/bin/chromium is missing (apt-get install -y chromium)")
def test_video(): pytest.skip("/usr/bin/chromium is missing (apt-get install -y chromium)")
""",
        test_kit="""
import pytest
pytestmark = pytest.mark.skipif(True, reason="node and npm are needed for the front-end kit")
def test_types(): pass
""",
        test_rules="def test_rule(): assert True\n",
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=3)
    result.stdout.re_match_lines(
        [
            r"=+ what this run did not cover =+",
            r"\s+2 skipped: /usr/bin/chromium is missing \(apt-get install -y chromium\)  "
            r"\[test_browser.py\]",
            r"\s+1 skipped: node and npm are needed for the front-end kit  \[test_kit.py\]",
            r"Install what is missing for full coverage .*MEDIAGEN_REQUIRE_BROWSER=1.*",
        ]
    )


def test_a_run_that_skipped_nothing_says_so(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(HOOK)
    pytester.makepyfile(test_rules="def test_rule(): assert True\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.re_match_lines([r"=+ what this run did not cover: nothing, no test skipped =+"])


def test_the_suites_conftest_installs_the_summary() -> None:
    conftest = (Path(__file__).resolve().parents[1] / "conftest.py").read_text()
    assert "from tests.skip_summary import pytest_terminal_summary" in conftest
