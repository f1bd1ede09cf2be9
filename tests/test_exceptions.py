import pickle

from medgen.exceptions import InputError


def test_input_errors_survive_pickling_as_themselves() -> None:
    """A worker process's InputError reaches the parent whole (the remedy trains in a pool)."""
    error = pickle.loads(pickle.dumps(InputError("data/meta.csv", "has no label column")))
    assert isinstance(error, InputError)
    assert (error.what, error.problem) == ("data/meta.csv", "has no label column")
    assert str(error) == "data/meta.csv: has no label column"
