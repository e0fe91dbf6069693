"""Find models: built-in specs (shipped in the wheel), ``CNNCOST_PATH`` dirs, or a file path."""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from cnncost.errors import SpecError
from cnncost.spec.family import FamilySpec, ModelSpec, parse_family
from cnncost.spec.sources import is_source


class CatalogWarning(UserWarning):
    """A spec directory or file on ``CNNCOST_PATH`` that cannot be used: skipped, everything else works."""


def spec_dirs() -> list[Path]:
    """Built-in specs first (``cnncost/specs`` in a wheel, ``specs/`` in a checkout), then CNNCOST_PATH."""
    here = Path(__file__).resolve().parent.parent
    dirs = [d for d in (here / "specs", here.parent / "specs") if d.is_dir()][:1]
    for extra in os.environ.get("CNNCOST_PATH", "").split(os.pathsep):
        if not extra:
            continue
        if Path(extra).is_dir():
            dirs.append(Path(extra))
        else:
            warnings.warn(f"CNNCOST_PATH: {extra} is not a directory (skipped)", CatalogWarning, stacklevel=2)
    return dirs


def spec_files() -> list[Path]:
    return [f for d in spec_dirs() for f in sorted(d.glob("*.yaml"))]


def families() -> Iterator[tuple[Path, FamilySpec]]:
    """Every readable spec file of the catalogue; a broken one is a warning naming it, not the end."""
    for f in spec_files():
        try:
            yield f, family(f)
        except SpecError as exc:
            warnings.warn(f"skipped {exc}", CatalogWarning, stacklevel=2)


def family(path: Path) -> FamilySpec:
    """The parsed file, cached on its path and its stat (size, mtime, inode): a rewritten spec is read again."""
    st = path.stat()
    return _parsed(path, st.st_mtime_ns, st.st_size, st.st_ino)


@cache
def _parsed(path: Path, mtime_ns: int, size: int, inode: int) -> FamilySpec:
    return parse_family(path)


def _normalize(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def all_models() -> dict[str, tuple[Path, str]]:
    """Every model and alias → (file, canonical name)."""
    out: dict[str, tuple[Path, str]] = {}
    for f, fam in families():
        for name in fam.model_names:
            out.setdefault(name, (f, name))
        for alias, target in fam.aliases().items():
            out.setdefault(alias, (f, target))
    return out


def load_model(name_or_path: str, allow_unsupported: bool = False) -> ModelSpec:
    """``resnet50``, an alias, ``path/to/spec.yaml``, ``path/to/spec.yaml:variant``, or a torch model
    source (``timm:resnet50d``, ``torchvision:regnet_y_400mf``, ``pkg.mod:build``, ``net.py:build``),
    traced and written as a spec (``allow_unsupported``: calls cnncost cannot count become zero-cost
    layers, flagged, instead of an error)."""
    if is_source(name_or_path):
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            raise SpecError(
                f"{name_or_path} is a torch model: reading it needs torch", expected="pip install 'cnncost[torch]'"
            )
        from cnncost.torch.importer import load_source

        return load_source(name_or_path, allow_unsupported=allow_unsupported)
    path_part, _, variant = name_or_path.partition(":")
    if path_part.endswith((".yaml", ".yml")) or os.sep in path_part:
        path = Path(path_part)
        if not path.is_file():
            raise SpecError(f"no spec file {path_part!r}")
        fam = family(path.resolve())
        if not variant:
            if len(fam.model_names) != 1:
                raise SpecError(
                    f"{path_part} defines {len(fam.model_names)} models",
                    expected=f"{path_part}:NAME with NAME one of " + ", ".join(fam.model_names),
                )
            variant = fam.model_names[0]
        return fam.model(variant)
    key = _normalize(name_or_path)
    files = spec_files()
    # Cheap first guess: vgg16 lives in vgg.yaml, resnet50 in resnet.yaml.
    for f in sorted((f for f in files if key.startswith(f.stem)), key=lambda f: -len(f.stem)):
        try:
            fam = family(f)
        except SpecError:
            continue  # a broken file is reported by all_models() below, and then skipped
        target = key if key in fam.variants else fam.aliases().get(key)
        if target:
            return fam.model(target)
    models = all_models()
    if key in models:
        f, target = models[key]
        return family(f).model(target)
    close = difflib.get_close_matches(key, list(models), n=4, cutoff=0.5)
    raise SpecError(
        f"unknown model {name_or_path!r}",
        expected=("did you mean " + ", ".join(close) + "?")
        if close
        else "a name from `cnncost specs` or a path to a .yaml spec",
    )
