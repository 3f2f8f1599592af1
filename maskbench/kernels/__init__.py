"""Pure, device-agnostic torch kernels for masking. No numpy, PIL or widget imports here."""
