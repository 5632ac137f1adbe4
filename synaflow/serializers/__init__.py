"""Serializers used by the disk materializers: ``extension``, optional ``binary``, ``serialize(file, data)``.

Any object with that shape works as a serializer; these are the built-in ones.

    >>> from synaflow.serializers import jsonl_serializer
    >>> jsonl_serializer.extension
    'jsonl'

``json_serializer`` and ``csv_serializer`` write one whole document per file, so
they cannot be used to append error records (``disk_error_materializer``).
"""
from __future__ import annotations

from synaflow.serializers.csv import CsvSerializer, csv_serializer
from synaflow.serializers.json import JsonSerializer, json_serializer
from synaflow.serializers.jsonl import JsonlSerializer, jsonl_serializer
from synaflow.serializers.pickle import PickleSerializer, pickle_serializer
from synaflow.serializers.text import TextSerializer, text_serializer

__all__ = [
    "CsvSerializer", "JsonSerializer", "JsonlSerializer", "PickleSerializer", "TextSerializer",
    "csv_serializer", "json_serializer", "jsonl_serializer", "pickle_serializer",
    "text_serializer",
]
