"""pip-audit of the layer's requirements (`make pip-audit`), from .checks-venv:

    .checks-venv/bin/python -m deploy.checks.audit_layer layers/shared/requirements.txt

pip-audit resolves the pins with their dependencies and asks PyPI's JSON API for each version's known
vulnerabilities (`/pypi/<name>/<version>/json`, the `vulnerabilities` field): the PyPI registry, no
other host. Where a registry mirror serves only the project document (`/pypi/<name>/json`, which carries
the vulnerabilities of the project's *latest* version), a version that is the latest is audited from it;
any other version is listed as not audited (pip-audit's skip table), and nothing is assumed about it.
Any known vulnerability of an audited version fails the audit (exit 1).
"""

import sys
from typing import Any

import requests

PYPI = "https://pypi.org/pypi/"


class LatestVersionFallback:
    """A requests session for pip-audit's PyPI service: a 404 on a version's document is answered by
    the project's document when that version is the project's latest (same `vulnerabilities`)."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def get(self, url: str, **options: Any) -> requests.Response:
        response: requests.Response = self.session.get(url, **options)
        if response.status_code != 404 or not url.startswith(PYPI):
            return response
        parts = url.removeprefix(PYPI).strip("/").split("/")
        if len(parts) != 3 or parts[2] != "json":
            return response
        name, version = parts[0], parts[1]
        project: requests.Response = self.session.get(f"{PYPI}{name}/json", **options)
        if project.status_code != 200:
            return response
        from packaging.version import InvalidVersion, Version

        try:
            latest = Version(project.json()["info"]["version"]) == Version(version)
        except (InvalidVersion, KeyError, ValueError):
            return response
        return project if latest else response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


def main(argv: list[str]) -> int:
    from pip_audit import _cli
    from pip_audit._service import pypi

    original = pypi.caching_session
    pypi.caching_session = lambda *args, **kwargs: LatestVersionFallback(original(*args, **kwargs))
    requirements = argv[1] if len(argv) > 1 else "layers/shared/requirements.txt"
    sys.argv = ["pip-audit", "--progress-spinner", "off", "--desc", "-r", requirements]
    try:
        _cli.audit()
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
