"""Our own adversarial suite (issue 10): generated hostile inputs, files and resource limits."""
