"""Keep OpenMP/BLAS to one thread in these tests.

The checks fit histogram gradient boosting (OpenMP). On a small, shared CI
machine its worker threads spin against other processes and a 1,000-row audit
can take ten times longer; one thread gives the same results, faster.
"""

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # threadpoolctl only limits libraries already loaded: load scikit-learn's
    # OpenMP runtime (and numpy's BLAS) first.
    import sklearn.ensemble  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield
