"""``trtbench check``: will TensorRT parse this ONNX file, and what will it do? (static, no TensorRT needed)."""

from .audit import Audit, Finding, audit_onnx
from .support import SupportTable, load_table

__all__ = ["Audit", "Finding", "SupportTable", "audit_onnx", "format_audit", "load_table"]


def format_audit(audit: Audit, registered_plugins: tuple[str, ...] = (), verbose: bool = False) -> str:
    """Findings worst first, then a one-line verdict; info lines only with ``verbose``."""
    order = ("error", "plugin", "warning") + (("info",) if verbose else ())
    lines = [f"{audit.path}: opset {audit.opset}, {audit.nodes} node(s), against the TensorRT {audit.tensorrt} "
             "ONNX parser support table"]
    lines += [str(f) for severity in order for f in audit.by(severity)]
    counts = ", ".join(f"{len(audit.by(s))} {s}" for s in ("error", "plugin", "warning", "info"))
    verdict = "READY for TensorRT" if audit.passed(registered_plugins) else "NOT READY for TensorRT"
    lines.append(f"{verdict} ({counts})")
    return "\n".join(lines)
