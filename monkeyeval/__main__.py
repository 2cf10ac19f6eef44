"""`python -m monkeyeval ...` (also what `torchrun -m monkeyeval run ...` starts)."""

if __name__ == "__main__":
    from monkeyeval.core.lifeline import die_with_launcher, is_torchrun_worker

    if is_torchrun_worker():
        die_with_launcher()  # before the heavy imports: a launcher killed meanwhile takes this worker along
    from monkeyeval.cli.app import main

    main()
