"""Per-document losses of Hugging Face causal LMs (optional: `pip install thresher[lm]`).

torch and transformers are imported only when this is used, so the rest of the project
never needs them. Each document is scored on its own (no context from neighbouring
documents): it is tokenized alone, cut into windows of the model's context length
(each window after the first starts with the last `stride` tokens of the previous one
as unscored context), and the summed token NLL is returned with BPC = nll / (chars ln 2).
Batches are padded on the right; runs on CUDA when available, else CPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from thresher.scorers.errors import ConfigError, InputError


def _imports():
    try:
        import torch
        import transformers
    except ImportError:
        raise ConfigError(
            "HF model losses need torch and transformers: pip install 'thresher[lm]'"
        ) from None
    return torch, transformers


class HFCausalLM:
    """A local causal LM (a directory with config + weights + tokenizer)."""

    def __init__(
        self,
        path: str,
        name: str | None = None,
        device: str | None = None,
        max_length: int | None = None,
        model=None,
        tokenizer=None,
    ):
        torch, transformers = _imports()
        self.torch = torch
        self.name = name or str(path).rstrip("/").rsplit("/", 1)[-1]
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self.tokenizer = tokenizer or transformers.AutoTokenizer.from_pretrained(
                path, local_files_only=True
            )
            self.model = model or transformers.AutoModelForCausalLM.from_pretrained(
                path, local_files_only=True
            )
        except (OSError, ValueError) as exc:
            raise InputError(
                f"cannot load a causal LM from {path}: {' '.join(str(exc).split())[:300]}"
            ) from None
        self.model.to(self.device).eval()
        positions = getattr(self.model.config, "max_position_embeddings", None) or 1024
        self.max_length = max_length or min(positions, 2048)

    def _windows(self, ids: list[int]) -> list[tuple[list[int], int]]:
        """(token window, number of leading context tokens not scored) covering `ids`."""
        n, stride = self.max_length, self.max_length // 2
        if len(ids) <= n:
            return [(ids, 0)]
        out, start = [(ids[:n], 0)], n
        while start < len(ids):
            ctx = ids[start - stride : start]
            out.append((ctx + ids[start : start + n - stride], len(ctx)))
            start += n - stride
        return out

    def doc_nll(self, texts: Sequence[str], batch_size: int = 8) -> list[float]:
        """Summed NLL (nats) of each text's tokens after the first (which has no context)."""
        torch = self.torch
        bos = self.tokenizer.bos_token_id
        items = []  # (doc index, window, context length)
        for d, text in enumerate(texts):
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            if bos is not None:  # a BOS lets the first real token be scored too
                ids = [bos, *ids]
            for window, ctx in self._windows(ids):
                items.append((d, window, ctx))
        totals = [0.0] * len(texts)
        items.sort(key=lambda it: len(it[1]))  # similar lengths per batch: less padding
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        with torch.no_grad():
            for b in range(0, len(items), batch_size):
                batch = items[b : b + batch_size]
                width = max(len(w) for _, w, _ in batch)
                ids = torch.full((len(batch), width), pad, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for i, (_, w, _) in enumerate(batch):
                    ids[i, : len(w)] = torch.tensor(w)
                    mask[i, : len(w)] = 1
                logits = self.model(
                    input_ids=ids.to(self.device), attention_mask=mask.to(self.device)
                ).logits.float()
                logp = torch.log_softmax(logits[:, :-1], dim=-1)
                target = ids[:, 1:].to(self.device)
                nll = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
                for i, (d, w, ctx) in enumerate(batch):
                    first = max(ctx - 1, 0)  # predictions of tokens at positions >= max(ctx, 1)
                    totals[d] += float(nll[i, first : len(w) - 1].sum())
        return totals


def bpc(nll_sum: float, n_chars: int) -> float:
    return nll_sum / (max(n_chars, 1) * math.log(2))
