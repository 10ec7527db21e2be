"""The names the engine takes for a device and a precision, in one place.

No imports: the command line builds its --help from these without loading torch.
"""

DEVICES = ("auto", "cpu", "cuda", "mps")
# fp32, bf16 or fp16, or auto (each model family's rule: engine.devices, engine.models.deepfloyd)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
