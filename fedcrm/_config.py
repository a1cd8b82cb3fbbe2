"""The base of the settings records a user writes (training, privacy, federation settings)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from fedcrm.errors import ConfigError, validation_problems

if TYPE_CHECKING:
    # type checkers see a plain pydantic model, so they keep checking the fields a
    # constructor call passes (a metaclass __call__ would hide them behind (*Any) -> Any)
    class ConfigModel(BaseModel):
        """A pydantic record whose constructor raises ConfigError."""

else:
    #: pydantic's model metaclass, reached without importing pydantic's private modules
    _ModelMetaclass: Any = type(BaseModel)

    class _RaisesConfigError(_ModelMetaclass):
        """Turns a failed ``Model(...)`` call into a ConfigError.

        On the metaclass, not in ``__init__``: pydantic calls a custom ``__init__`` for nested
        records as well, and a settings file's error would then read ``training: invalid
        TrainingConfig: rounds: …`` instead of pydantic's ``training.rounds: …``.
        """

        def __call__(cls, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (a metaclass)
            try:
                return super().__call__(*args, **kwargs)
            except ValidationError as exc:
                raise ConfigError(
                    f"invalid {cls.__name__}: {validation_problems(exc)}") from exc

    class ConfigModel(BaseModel, metaclass=_RaisesConfigError):
        """A pydantic record whose constructor raises :class:`~fedcrm.errors.ConfigError`.

        Every error a user can cause is a :class:`~fedcrm.errors.FedcrmError`, and a setting
        written by hand (``TrainingConfig(rounds=0)``) is such an error: its message names each
        field and what is wrong with it; pydantic's own :class:`~pydantic.ValidationError` is
        the error's ``__cause__`` (its ``errors()`` list them one by one). ``model_validate``
        and ``model_validate_json`` stay pydantic's, for code that reads records it did not
        write (``fedcrm.federation.load_federation_config`` words their errors for a file).
        """
