"""fedcrm.errors.validation_problems: pydantic's findings in one line a person can act on."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, Field, ValidationError, field_validator

from fedcrm.errors import validation_problems


class Settings(BaseModel):
    model: Literal["logistic", "mlp"] = "logistic"
    rounds: int = Field(default=1, ge=1)
    name: str = "x"

    @field_validator("name")
    @classmethod
    def _no_spaces(cls, value: str) -> str:
        if " " in value:
            raise ValueError(f"{value!r} has a space; use underscores")
        return value


def problems(**values: object) -> str:
    with pytest.raises(ValidationError) as caught:
        Settings(**values)  # type: ignore[arg-type]
    return validation_problems(caught.value)


def test_each_field_is_named_with_its_problem_on_one_line() -> None:
    found = problems(rounds=0, name="a b")
    assert found == ("rounds: Input should be greater than or equal to 1; "
                     "name: 'a b' has a space; use underscores")  # no "Value error, " prefix


def test_a_choice_says_what_was_given() -> None:
    assert problems(model="cnn") == "model: Input should be 'logistic' or 'mlp' (got 'cnn')"


def test_limit_keeps_the_first_findings_and_counts_the_rest() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(model="cnn", rounds=0, name="a b")  # type: ignore[arg-type]
    assert validation_problems(caught.value, limit=1).endswith("(and 2 more)")


def test_as_command_line_options_each_field_shows_the_value_given() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(model="cnn", rounds=0)  # type: ignore[arg-type]
    assert validation_problems(caught.value, options=True) == (
        "--model 'cnn': Input should be 'logistic' or 'mlp'; "
        "--rounds 0: Input should be greater than or equal to 1")
