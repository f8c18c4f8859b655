"""Command-line interface. Each command lives in its own module and registers on ``app``."""

# Import order is the order of `unskew --help`: the first run, then the data, then the model.
from . import _demo  # noqa: F401, I001  (registers `unskew demo` and `unskew checks`)
from . import _audit  # noqa: F401  (registers `unskew audit`)
from . import _evaluate  # noqa: F401  (registers `unskew evaluate`)
from . import _slices  # noqa: F401  (registers `unskew slices`)
from . import _mitigate  # noqa: F401  (registers `unskew mitigate`)
from . import _debias  # noqa: F401  (registers `unskew debias`)
from . import _compare  # noqa: F401  (registers `unskew compare`)
from . import _explain  # noqa: F401  (registers `unskew explain`)
from . import _train  # noqa: F401  (registers `unskew train` and `unskew retrain`)
from . import _monitor  # noqa: F401  (registers `unskew monitor`)
from . import _review  # noqa: F401  (registers `unskew review`)
from ._app import app, run_app


def main() -> None:
    """Entry point of the ``unskew`` console script."""
    run_app()


__all__ = ["app", "main"]
