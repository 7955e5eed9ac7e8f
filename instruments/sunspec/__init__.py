"""SunSpec Modbus information models: register layouts shared by drivers and emulators."""

from .layout import (
    BASE_ADDRESSES,
    END_MODEL_ID,
    SUNS_MARKER,
    LayoutError,
    ModelBlock,
    ModelLayout,
    PointSpec,
    build_layout,
    decode,
    encode,
    fixed_layout,
    model_definition,
)

__all__ = [
    "BASE_ADDRESSES",
    "END_MODEL_ID",
    "SUNS_MARKER",
    "LayoutError",
    "ModelBlock",
    "ModelLayout",
    "PointSpec",
    "build_layout",
    "decode",
    "encode",
    "fixed_layout",
    "model_definition",
]
