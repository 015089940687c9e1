"""The runtime both training stages and every command share: checkpoints (save, resume, retention, safe
loading), the Accelerator factory, the non-finite guard, the JSONL run log, one writer per directory
(`run_lock`) and how a command ends (`command`).

It lives in `qa_data/` because that is the bottom layer of the three packages: `perception` and `reasoning` both
import it, and nothing here imports either of them, so the QA stage no longer reaches into perception for its
own checkpoints.
"""
