"""The base of the records a user writes by hand (training, privacy, federation settings; a
review decision): their constructors raise a :class:`~fedcrm.errors.FedcrmError`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from fedcrm.errors import ConfigError, FedcrmError, validation_problems

if TYPE_CHECKING:
    # type checkers see a plain pydantic model, so they keep checking the fields a
    # constructor call passes (a metaclass __call__ would hide them behind (*Any) -> Any)
    class UserModel(BaseModel):
        """A pydantic record whose constructor raises a FedcrmError."""

        @classmethod
        def constructor_error(cls, error: ValidationError, values: dict[str, Any]
                              ) -> FedcrmError: ...

    class ConfigModel(UserModel):
        """A pydantic record whose constructor raises ConfigError."""

else:
    #: pydantic's model metaclass, reached without importing pydantic's private modules
    _ModelMetaclass: Any = type(BaseModel)

    class _RaisesFedcrmError(_ModelMetaclass):
        """Turns a failed ``Model(...)`` call into the class's ``constructor_error``.

        On the metaclass, not in ``__init__``: pydantic calls a custom ``__init__`` for nested
        records as well, and a settings file's error would then read ``training: invalid
        TrainingConfig: rounds: …`` instead of pydantic's ``training.rounds: …``.
        """

        def __call__(cls, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (a metaclass)
            try:
                return super().__call__(*args, **kwargs)
            except ValidationError as exc:
                raise cls.constructor_error(exc, kwargs) from exc

    class UserModel(BaseModel, metaclass=_RaisesFedcrmError):
        """A pydantic record whose constructor raises a :class:`~fedcrm.errors.FedcrmError`.

        Every error a user can cause is a :class:`~fedcrm.errors.FedcrmError`, and a record
        written by hand (``TrainingConfig(rounds=0)``) is such an error: its message names each
        field and what is wrong with it; pydantic's own :class:`~pydantic.ValidationError` is
        the error's ``__cause__`` (its ``errors()`` list them one by one). ``model_validate``
        and ``model_validate_json`` stay pydantic's, for code that reads records it did not
        write (``fedcrm.federation.load_federation_config`` words their errors for a file).
        """

        @classmethod
        def constructor_error(cls, error: ValidationError, values: dict[str, Any]
                              ) -> FedcrmError:
            """The error a failed constructor call raises (``values``: its keywords)."""
            return FedcrmError(f"invalid {cls.__name__}: {validation_problems(error)}")

    class ConfigModel(UserModel):
        """A :class:`UserModel` whose constructor raises :class:`~fedcrm.errors.ConfigError`."""

        @classmethod
        def constructor_error(cls, error: ValidationError, values: dict[str, Any]
                              ) -> FedcrmError:
            return ConfigError(f"invalid {cls.__name__}: {validation_problems(error)}")
