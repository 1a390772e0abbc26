"""_library.py: where the ksa package finds libksa.so, and why it took the one it took.

Search order (the first that loads wins):

1. ``KSA_LIBRARY``: a path to libksa.so. When set it must load, or the import fails saying so
   (an override that is silently ignored would test the wrong library).
2. The build this package copy was made by: CMake writes ``_build_location.py`` next to this file
   in ``<build>/python/ksa`` (``pip install <build>/python`` keeps it), naming that build's
   ``lib/libksa.so``.
3. ``libksa.so`` next to this file (a copy shipped inside the package).
4. A build tree of the source checkout this file sits in (``<root>/python/ksa``: ``<root>/build*/lib``,
   newest first, sanitizer builds left out: they cannot be loaded into Python).
5. An installed libksa (``cmake --install``): the dynamic loader's own search
   (``LD_LIBRARY_PATH``, ldconfig's cache), then ``lib``, ``lib64`` and the multiarch folder of
   ``sys.prefix``, ``/usr/local`` and ``/usr``.

Whichever was loaded, libksa finds its plugins by itself (dispatch/context.c): next to itself (a
build tree's ``lib``, a copy inside the package) and in its ``ksa/`` subfolder (an installed
libksa's ``<libdir>/ksa``), after the folders of ``KSA_PLUGIN_PATH`` when that is set.
"""
import ctypes
import glob
import os
import sys

_SONAMES = ("libksa.so.0", "libksa.so")


def _build_location():
    try:
        from . import _build_location  # written by CMake into the build tree's copy only
    except ImportError:
        return None
    return getattr(_build_location, "LIBKSA", None)


def _source_root(here=None):
    """The checkout root when this package is python/ksa of a source tree, else None."""
    here = here or os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    if os.path.isfile(os.path.join(root, "include", "ksa", "ksa.h")):
        return root
    return None


def build_tree_candidates(root):
    """libksa.so of every build folder under root, newest first, sanitizer builds left out."""
    dirs = [d for d in glob.glob(os.path.join(root, "build*", "lib")) if os.path.isfile(os.path.join(d, "libksa.so"))]
    dirs.sort(key=os.path.getmtime, reverse=True)
    return [os.path.join(d, "libksa.so") for d in dirs
            if "asan" not in os.path.basename(os.path.dirname(d)) and "sanit" not in os.path.basename(os.path.dirname(d))]


def installed_candidates():
    """Names for the loader's own search, then libksa in the usual install prefixes."""
    out = list(_SONAMES)
    multiarch = getattr(sys.implementation, "_multiarch", None) or "x86_64-linux-gnu"
    for prefix in (sys.prefix, "/usr/local", "/usr"):
        for sub in ("lib", "lib64", os.path.join("lib", multiarch)):
            for name in _SONAMES:
                out.append(os.path.join(prefix, sub, name))
    return out


def candidates():
    """(path or soname, where it comes from) in search order; KSA_LIBRARY is handled by load()."""
    here = os.path.dirname(os.path.abspath(__file__))
    built = _build_location()
    if built:
        yield built, "the build this package was copied from (_build_location.py)"
    yield os.path.join(here, "libksa.so"), "a copy inside the package"
    root = _source_root(here)
    if root:
        for path in build_tree_candidates(root):
            yield path, f"the source tree's build folder {os.path.dirname(os.path.dirname(path))}"
    for name in installed_candidates():
        yield name, "an installed libksa"


def load():
    """(ctypes.CDLL, path or soname, how it was found); raises OSError naming every place tried."""
    env = os.environ.get("KSA_LIBRARY")
    if env:
        if not os.path.exists(env):
            raise OSError(f"KSA_LIBRARY={env}: no such file (unset it to let ksa search for libksa)")
        try:
            return ctypes.CDLL(env), env, "KSA_LIBRARY"
        except OSError as e:
            raise OSError(f"KSA_LIBRARY={env} cannot be loaded: {e}") from e
    tried = []
    for cand, how in candidates():
        if os.sep in cand and not os.path.exists(cand):
            continue
        try:
            lib = ctypes.CDLL(cand)
        except OSError as e:
            tried.append(f"{cand}: {e}")
            continue
        return lib, cand, how
    raise OSError("libksa not found: build ksa (scripts/setup-and-demo.sh), install it (cmake --install), "
                  "or set KSA_LIBRARY to the path of libksa.so" + ("; tried " + "; ".join(tried) if tried else ""))
