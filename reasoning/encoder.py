"""A pre-LN transformer encoder with the parameters of `nn.TransformerEncoder` (pre-LN, ReLU,
batch first), computed with one `scaled_dot_product_attention` call per layer and a boolean key
mask broadcast over heads and queries.

It is the function of `nn.TransformerEncoder(nn.TransformerEncoderLayer(..., norm_first=True))`
with the same state-dict names (checkpoints load either way; `tests/reasoning/test_qa_on_states.py` checks the
outputs and gradients against it), without the float mask that `nn.MultiheadAttention` builds and
merges for every layer. With dropout 0, PyTorch's fused (flash) CPU attention kernel runs and no
[N, heads, S, S] attention matrix is stored for the backward pass.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class SelfAttention(nn.Module):
    """Names as `nn.MultiheadAttention`: in_proj_weight [3d, d], in_proj_bias [3d], out_proj."""

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        if d % heads:
            raise ValueError(f"d_model {d} is not divisible by {heads} heads")
        self.heads, self.dropout = heads, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d, d))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d))
        self.out_proj = nn.Linear(d, d)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        """x [N, S, d]; keep [N, 1, 1, S] bool (True: the key is attended to) or None."""
        n, s, d = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias).view(n, s, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each [N, h, S, d/h]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep,
                                             dropout_p=self.dropout if self.training else 0.0)  # [N, h, S, d/h]
        return self.out_proj(out.transpose(1, 2).reshape(n, s, d))


class EncoderLayer(nn.Module):
    """Pre-LN: x + Drop(Attn(LN(x))), then x + Drop(W2 Drop(ReLU(W1 LN(x))))."""

    def __init__(self, d: int, heads: int, ffn: int, dropout: float):
        super().__init__()
        self.self_attn = SelfAttention(d, heads, dropout)
        self.linear1, self.linear2 = nn.Linear(d, ffn), nn.Linear(ffn, d)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.p = dropout

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        drop = self.p if self.training else 0.0
        x = x + F.dropout(self.self_attn(self.norm1(x), keep), drop, self.training)
        h = F.dropout(F.relu(self.linear1(self.norm2(x))), drop, self.training)
        return x + F.dropout(self.linear2(h), drop, self.training)


class Encoder(nn.Module):
    """`layers` stacked EncoderLayers (state-dict names `layers.i.*`, as nn.TransformerEncoder)."""

    def __init__(self, d: int, heads: int, ffn: int, dropout: float, layers: int):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(d, heads, ffn, dropout) for _ in range(layers))

    def forward(self, x: torch.Tensor, src_key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x [N, S, d]; src_key_padding_mask [N, S] bool, True where a token is ignored."""
        keep = None if src_key_padding_mask is None else ~src_key_padding_mask[:, None, None, :]  # [N, 1, 1, S]
        for layer in self.layers:
            x = layer(x, keep)
        return x
