"""The local service's own settings: a bad value stops it with one line naming the variable."""

import pytest

from deploy.cfn_functions import functions
from local.emulator.server import Settings, sandbox_functions

ISSUER = {"AUTH_ISSUER": "https://issuer.example", "AUTH_JWKS_URL": "https://issuer.example/jwks"}


@pytest.mark.parametrize("name", ["LOCAL_SANDBOXES", "LOCAL_IDLE_SECONDS", "LOCAL_TIMEOUT_SCALE"])
@pytest.mark.parametrize("value", ["0", "-1", "1.5", "ten", "1e3"])
def test_a_count_that_is_not_a_positive_whole_number_is_refused(name: str, value: str) -> None:
    with pytest.raises(SystemExit, match=f"{name} must be a positive whole number, not '{value}'"):
        Settings.from_environment({**ISSUER, "WEBHOOK_SECRETS": "whsec_c2VjcmV0", name: value})


def test_timeouts_are_the_templates_unless_scaled() -> None:
    settings = {**ISSUER, "WEBHOOK_SECRETS": "whsec_c2VjcmV0"}
    assert Settings.from_environment(settings).timeout_scale == 1
    assert Settings.from_environment({**settings, "LOCAL_TIMEOUT_SCALE": " 10 "}).timeout_scale == 10


def test_the_sandboxes_enforce_the_templates_timeouts_times_the_scale() -> None:
    # Given the template's functions, with their own Timeout (Globals or their own)
    template_timeouts = {spec.logical_id: spec.timeout for spec in functions()}
    assert len(set(template_timeouts.values())) > 1, "the template's timeouts differ by function"

    # When the local service makes its sandboxes' functions, unscaled and scaled by 10
    unscaled = {function.name: function.timeout for function in sandbox_functions(functions(), 1)}
    scaled = {function.name: function.timeout for function in sandbox_functions(functions(), 10)}

    # Then every function is there, with the template's timeout, times the scale
    assert unscaled == template_timeouts
    assert scaled == {name: 10 * seconds for name, seconds in template_timeouts.items()}
