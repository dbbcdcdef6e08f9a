"""pytest plugin: open redis-py's server-version gates for features Rill implements.

Load it without touching redis-py's files:

    PYTHONPATH=tests/redis-py python -m pytest -p rill_gates ... \
        --rill-version 8.2.2 --rill-ungate xdelex,xackdel --rill-gate xnack

How redis-py gates tests (tests/conftest.py, redis-py 8.1.0):
  * pytest_sessionstart() runs INFO (+DPING) against --redis-url and stores
    info["redis_version"] in the module-global dict REDIS_INFO["version"]
    (the very same dict object is also exposed as config.REDIS_INFO).
  * skip_if_server_version_lt(v) / skip_if_server_version_gte(v) read
    REDIS_INFO["version"] when the *test module is imported*, i.e. during
    collection, which happens after pytest_sessionstart. They return
    pytest.mark.skipif(<bool>, reason="Redis version required >= v" / "< v").

So there are two seams, both used here:
  1. --rill-version: a trylast pytest_sessionstart that overwrites
     config.REDIS_INFO["version"] after redis-py's own sessionstart ran and
     before any test module is imported -> every decorator sees that version.
  2. --rill-ungate / --rill-gate: name-based, applied in
     pytest_collection_modifyitems. Ungate removes the version skipif marks
     ("Redis version required >= ...") from matching items; gate adds a skip
     mark to matching items (features Rill does not implement yet).
"""

import os

import pytest

_VERSION_REASON_PREFIX = "Redis version required"


def _split(values):
    out = []
    for v in values or []:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


def pytest_addoption(parser):
    group = parser.getgroup("rill", "Rill version-gate overrides")
    group.addoption(
        "--rill-version",
        default=os.environ.get("RILL_REDIS_VERSION"),
        help="Pretend the server is this Redis version for redis-py's "
        "skip_if_server_version_lt/gte (env RILL_REDIS_VERSION).",
    )
    group.addoption(
        "--rill-ungate",
        action="append",
        default=[],
        help="Comma-separated test-name substrings whose 'Redis version "
        "required >= X' skip marks are dropped (repeatable; env RILL_UNGATE).",
    )
    group.addoption(
        "--rill-ungate-lt-too",
        action="store_true",
        default=False,
        help="With --rill-ungate, also drop 'Redis version required < X' "
        "marks (runs legacy-behaviour variants too).",
    )
    group.addoption(
        "--rill-gate",
        action="append",
        default=[],
        help="Comma-separated test-name substrings to skip as 'not implemented "
        "in Rill' (repeatable; env RILL_GATE).",
    )


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    version = session.config.getoption("--rill-version")
    info = getattr(session.config, "REDIS_INFO", None)
    if version and info is not None:
        info["real_version"] = info.get("version")
        info["version"] = version


def pytest_report_header(config):
    info = getattr(config, "REDIS_INFO", None) or {}
    if "real_version" in info:
        return (
            f"rill_gates: server reported redis_version={info['real_version']}, "
            f"gates evaluated as {info['version']}"
        )
    return None


def _is_version_skip(mark, include_lt):
    if mark.name != "skipif":
        return False
    reason = str(mark.kwargs.get("reason", ""))
    if not reason.startswith(_VERSION_REASON_PREFIX):
        return False
    return include_lt or ">=" in reason


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    ungate = _split(config.getoption("--rill-ungate")) + _split(
        [os.environ.get("RILL_UNGATE", "")]
    )
    gate = _split(config.getoption("--rill-gate")) + _split(
        [os.environ.get("RILL_GATE", "")]
    )
    include_lt = config.getoption("--rill-ungate-lt-too")
    for item in items:
        name = item.name
        if ungate and any(p in name for p in ungate):
            item.own_markers[:] = [
                m for m in item.own_markers if not _is_version_skip(m, include_lt)
            ]
        if gate and any(p in name for p in gate):
            item.add_marker(pytest.mark.skip(reason="rill_gates: not implemented in Rill"))
