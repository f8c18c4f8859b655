"""The one registry type behind checks, compare/train/mitigation methods."""

import warnings

import pytest

from unskew._registry import Registry, RegistryWarning
from unskew.exceptions import UnskewInputError


def test_register_decorator_lookup_and_order():
    reg = Registry("widget", option="--widget")

    @reg.register
    class Alpha:
        name = "alpha"

    @reg.register(name="beta")
    class B:
        pass

    assert reg.names() == ["alpha", "beta"] == list(reg)
    assert reg["alpha"] is Alpha and reg.get("beta") is B and "alpha" in reg and len(reg) == 2
    assert dict(reg.items()) == {"alpha": Alpha, "beta": B}
    with pytest.raises(ValueError, match="no name"):
        reg.register(object())


def test_unknown_name_did_you_mean():
    reg = Registry("widget", option="--widget")
    reg.register(1, name="reweighing")
    reg.register(2, name="smote")
    with pytest.raises(UnskewInputError, match=r"Unknown widget 'reweigh' for --widget\. Did you mean "
                                               r"'reweighing'\? Available: reweighing, smote\."):
        reg["reweigh"]
    with pytest.raises(UnskewInputError, match="Available: reweighing, smote") as exc:
        reg.get("zzz")
    assert "Did you mean" not in str(exc.value)
    assert reg.get("zzz", None) is None
    with pytest.raises(UnskewInputError, match="'a', 'b'"):
        reg.check(["a", "smote", "b"])


def test_overwrite_warns_same_entry_does_not():
    reg = Registry("widget")
    reg.register(1, name="x")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg.register(1, name="x")  # the same entry again: silent
    with pytest.warns(RegistryWarning, match="'x' was already registered"):
        reg.register(2, name="x")
    assert reg["x"] == 2


def test_deprecated_alias_warns_and_resolves():
    reg = Registry("method")
    reg.register("impl", name="correlation_remover", aliases={"correlation": "0.3"})
    assert "correlation" not in reg and reg.aliases() == {"correlation": "correlation_remover"}
    with pytest.warns(FutureWarning, match="'correlation' is deprecated .*use 'correlation_remover'"):
        assert reg["correlation"] == "impl"
    with pytest.warns(FutureWarning):
        assert reg.check(["correlation"]) == ["correlation_remover"]
    assert reg.unregister("correlation_remover") == "impl" and reg.aliases() == {}
    assert reg.pop("gone", None) is None and len(reg) == 0


def test_registries_in_use():
    import unskew.compare as compare
    from unskew.audit import CHECKS, Check, get_check
    from unskew.mitigate.pre import METHODS as MITIGATE

    assert isinstance(CHECKS, Registry) and isinstance(compare.METHODS, Registry)
    assert isinstance(MITIGATE, Registry)
    assert get_check("base_rates").name == "base_rates"
    with pytest.raises(UnskewInputError, match="Did you mean 'base_rates'"):
        get_check("base_rate")

    class Probe(Check, register=True):
        name = "probe_check_for_test"

    try:
        assert CHECKS["probe_check_for_test"] is Probe
    finally:
        CHECKS.unregister("probe_check_for_test")
    # one name per method in every command: mitigate and compare agree
    assert "correlation_remover" in MITIGATE and "correlation_remover" in compare.METHODS
    shared = set(MITIGATE) & set(compare.METHODS)
    assert {"reweighing", "oversample", "undersample", "smote", "correlation_remover"} <= shared
    with pytest.warns(FutureWarning):
        assert MITIGATE.canonical("correlation") == "correlation_remover"
    with pytest.warns(FutureWarning):
        assert compare.METHODS.canonical("correlation") == "correlation_remover"


def test_train_registry():
    pytest.importorskip("torch")
    from unskew.train import METHODS, ERMClassifier

    assert isinstance(METHODS, Registry) and METHODS["erm"] is ERMClassifier
    with pytest.raises(UnskewInputError, match="Did you mean 'group_dro'"):
        METHODS["groupdro"]
