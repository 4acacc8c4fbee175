import pickle

import pytest

from armed.registry import Registry, RegistryError, did_you_mean, import_path


def make_registry() -> Registry:
    reg: Registry = Registry("widget")

    @reg.register("token_f1", description="F1 over tokens")
    def token_f1():
        return 1

    @reg.register()
    def exact_match():
        """Exact match after normalisation.

        More text that is not the description.
        """
        return 2

    return reg


def test_register_get_and_describe():
    reg = make_registry()
    assert reg.get("token_f1")() == 1
    assert reg.get("exact_match")() == 2
    assert reg.describe("token_f1") == "F1 over tokens"
    assert reg.describe("exact_match") == "Exact match after normalisation."
    assert reg.names() == ["exact_match", "token_f1"]
    assert "token_f1" in reg and "nope" not in reg
    assert len(reg) == 2


def test_unknown_name_suggests_close_matches():
    reg = make_registry()
    with pytest.raises(RegistryError) as info:
        reg.get("token_f2")
    message = str(info.value)
    assert "unknown widget 'token_f2'" in message
    assert "Did you mean 'token_f1'" in message
    assert "\n" not in message


def test_import_path_lookup():
    reg = make_registry()
    assert reg.get("armed.registry:did_you_mean") is did_you_mean
    assert import_path("armed.registry.did_you_mean") is did_you_mean
    with pytest.raises(RegistryError, match="no attribute"):
        reg.get("armed.registry:does_not_exist")
    with pytest.raises(RegistryError, match="cannot import"):
        reg.get("armed.no_such_module:thing")


def test_duplicate_registration_is_an_error():
    reg = make_registry()
    with pytest.raises(RegistryError, match="already registered"):
        reg.add("token_f1", lambda: 3)


def test_did_you_mean_lists_allowed_values():
    msg = did_you_mean("dr-grop", ["grpo", "dr_grpo", "dapo"], "loss_type")
    assert msg.startswith("invalid loss_type 'dr-grop'")
    assert "'dr_grpo'" in msg and "Allowed: grpo, dr_grpo, dapo" in msg


def test_error_pickles():
    err = pickle.loads(pickle.dumps(RegistryError("x")))
    assert str(err) == "x"
