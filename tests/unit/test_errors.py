import re

from subacct import errors


def test_every_error_has_a_unique_snake_case_code() -> None:
    codes = errors.error_codes()
    assert len(codes) >= 20
    for code, cls in codes.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code), code
        assert issubclass(cls, errors.SubacctError)
    classes = list(codes.values())
    assert len(set(classes)) == len(classes), "two classes share a code"


def test_to_dict_is_what_an_api_returns() -> None:
    err = errors.AccountNotFound("acc_1")
    assert err.to_dict() == {
        "code": "account_not_found",
        "message": "account 'acc_1' does not exist",
        "details": {"account_id": "acc_1"},
    }
    assert isinstance(err, LookupError)


def test_every_code_is_documented() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text()
    missing = [code for code in errors.error_codes() if f"`{code}`" not in text]
    assert not missing, f"codes missing from docs/errors.md: {missing}"


def _samples() -> list[errors.SubacctError]:
    """One instance of every error class, built from its own constructor's shape."""
    import inspect

    from subacct.policy import Decision, Reason

    out: list[errors.SubacctError] = []
    for cls in errors.error_codes().values():
        params = inspect.signature(cls.__init__).parameters
        if "decision" in params:
            out.append(cls("no", decision=Decision(False, Reason.NO_MEMBERSHIP), action="x"))
        elif "message" in params:
            out.append(cls("refused", account_id="acc_1"))
        else:
            names = [p for p in params if p != "self"]
            out.append(cls(*[f"v{i}" for i, _ in enumerate(names)]))
    return out


def test_every_error_pickles_and_copies_with_its_state() -> None:
    import copy
    import pickle

    for err in _samples():
        for again in (pickle.loads(pickle.dumps(err)), copy.deepcopy(err)):
            assert type(again) is type(err)
            assert again.to_dict() == err.to_dict()
            assert str(again) == str(err)
            assert vars(again) == vars(err)


def test_a_secret_never_comes_back_in_a_message_or_detail() -> None:
    import secrets

    secret = f"sk_{secrets.token_urlsafe(32)}"  # the shape the library mints
    assert errors.SECRET_PATTERN.fullmatch(secret)
    err = errors.UserNotFound(secret)
    shown = [str(err), repr(err), str(err.to_dict())]
    assert all(secret not in text for text in shown)
    assert "sk_<redacted>" in str(err)
    wrapped = errors.InvalidInput(f"bad value {errors.quoted(['x', secret])}", field=secret * 3)
    assert secret not in str(wrapped.to_dict())
