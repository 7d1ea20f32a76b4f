"""Model artefacts: a `skops` file plus a JSON manifest that carries its SHA-256.

Never pickle or joblib: a pickle runs code on load. `skops.io.load` only builds the types
listed in `TRUSTED_TYPES` (and skops' own safe defaults) and refuses anything else, and
the hash check refuses a file that is not the one the manifest describes.
"""

from __future__ import annotations

import hashlib
import json
import platform
import zipfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import skops.io

# skops trusts scikit-learn's public estimators and numpy/scipy containers by itself; these
# are the other types a Zabota text model is made of. A new one is added here on purpose,
# after reading what it does on load, never taken from the file being loaded.
TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._TemperatureScaling",
    "zabota.ml.embedding.SentenceEmbedding",  # reads the installed WordLlama; numbers only
    "zabota.ml.lexicon.LexiconFeatures",  # stateless; reads the installed VADER lexicon
    "zabota.ml.pipeline.LogCountRatioSVC",  # coef_, intercept_, classes_: arrays only
    "zabota.ml.pipeline.prepare_documents",
)

LIBRARIES = ("scikit-learn", "skops", "numpy", "scipy", "pymorphy3", "pymorphy3-dicts-ru",
             "pystemmer", "razdel", "vaderSentiment", "wordllama")


class ModelIntegrityError(RuntimeError):
    """The artefact is not the one its manifest describes, or holds an untrusted type."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def save_model(model: Any, artefact: Path, manifest: Mapping[str, object]) -> dict[str, object]:
    """Write `model` to `artefact` (skops, deflated) and `<artefact>.json` beside it: the
    given manifest (with a "name") plus file name, size, SHA-256 and a model version named
    after the hash; returns the full manifest."""
    artefact.parent.mkdir(parents=True, exist_ok=True)
    skops.io.dump(model, artefact, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    untrusted = set(skops.io.get_untrusted_types(file=artefact)) - set(TRUSTED_TYPES)
    if untrusted:
        artefact.unlink()
        raise ModelIntegrityError(f"the model uses types not in TRUSTED_TYPES: {sorted(untrusted)}")
    digest = sha256_file(artefact)
    full = {"model_version": f"{manifest['name']}-{digest[:12]}", **manifest,
            "artefact": artefact.name, "bytes": artefact.stat().st_size, "sha256": digest}
    manifest_path(artefact).write_text(json.dumps(full, ensure_ascii=False, indent=2) + "\n",
                                       encoding="utf-8")
    return full


def manifest_path(artefact: Path) -> Path:
    return artefact.with_suffix(".json")


def load_model_bytes(data: bytes, manifest: Mapping[str, object]) -> Any:
    """The model in `data`, after checking it against the manifest's SHA-256."""
    expected = manifest.get("sha256")
    actual = sha256_bytes(data)
    if actual != expected:
        raise ModelIntegrityError(f"artefact SHA-256 {actual} does not match manifest {expected}")
    try:
        return skops.io.loads(data, trusted=list(TRUSTED_TYPES))
    except skops.io.exceptions.UntrustedTypesFoundException as exc:
        raise ModelIntegrityError(str(exc)) from exc


def load_model(artefact: Path) -> tuple[Any, dict[str, object]]:
    """A model saved by `save_model` and its manifest, hash-checked."""
    manifest = json.loads(manifest_path(artefact).read_text(encoding="utf-8"))
    if not isinstance(manifest, dict):
        raise ModelIntegrityError(f"{manifest_path(artefact)} is not a JSON object")
    return load_model_bytes(artefact.read_bytes(), manifest), manifest
