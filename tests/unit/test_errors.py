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
