"""`python -m monkeyeval ...` (also what `torchrun -m monkeyeval run ...` starts)."""

from monkeyeval.cli.app import main

if __name__ == "__main__":
    main()
