"""The package's import graph (``.ci/check_imports.py``): no cycle, layers point down."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

from twisted.trial.unittest import SynchronousTestCase

import twisted_netlab

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "check_imports.py"


def load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_imports", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ImportGraphTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.checker = load_checker()

    def fake_package(self, files: dict[str, str]) -> Path:
        root = Path(self.mktemp()) / "twisted_netlab"
        for name, text in {"__init__.py": "", **files}.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            (path.parent / "__init__.py").touch()
            path.write_text(text)
        return root

    def test_package_is_clean(self) -> None:
        root = Path(os.path.dirname(twisted_netlab.__file__))
        problems, modules, edges = self.checker.check(root)
        self.assertEqual(problems, [])
        self.assertGreater(modules, 40)
        self.assertGreater(edges, 50)

    def test_lazy_import_cycle_is_found(self) -> None:
        root = self.fake_package({
            "web/a.py": "from twisted_netlab.web.b import x\n",
            "web/b.py": "def f():\n    from twisted_netlab.web import a\n",
        })  # fmt: skip
        problems, _modules, _edges = self.checker.check(root)
        self.assertEqual(problems, ["import cycle: twisted_netlab.web.a <-> twisted_netlab.web.b"])

    def test_upward_and_io_imports_are_found(self) -> None:
        root = self.fake_package({
            "errors.py": "",
            "http/core.py": (
                "from twisted.internet import reactor\n"
                "from twisted_netlab.web import site\n"
                "from ..errors import NetlabError\n"
            ),
            "web/site.py": "from twisted_netlab.tap import Options\n",
            "tap.py": "",
        })  # fmt: skip
        problems, _modules, _edges = self.checker.check(root)
        text = "\n".join(problems)
        self.assertIn("sans-IO core twisted_netlab.http.core imports twisted.internet", text)
        self.assertIn(
            "twisted_netlab.http.core (layer 1) imports twisted_netlab.web.site (layer 2)", text
        )
        self.assertIn(
            "twisted_netlab.web.site (layer 2) imports twisted_netlab.tap (layer 3)", text
        )
        self.assertNotIn("errors", text)  # the relative import of errors is allowed
        self.assertEqual(len(problems), 3)
