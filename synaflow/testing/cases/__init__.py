"""The conformance cases, one plain module per theme."""
from . import composition, errors, resources, streams, values

ALL_CASES = [*values.CASES, *streams.CASES, *errors.CASES, *resources.CASES,
             *composition.CASES]
