"""OTC: online tuning of decentralized policies learned offline (Algorithm 1 of the OTC paper).

  config.py    OTCConfig (Table 3), the sampling variants, the random streams
  online.py    one deployment's data D_i^k (through baselines/lockstep.py), B_i^k = B_i^(k-1) U D_i^k
  sampling.py  rank-based prioritization, best match, adaptive alpha, density ratios
  tuner.py     one variant's fine-tuning of the pre-trained backbone
  protocol.py  the whole protocol for one (dataset, backbone, seed), writing one run per variant
  bench.py     `madata bench otc`;  cli.py: its options and --set routing;  table.py: deployment curves
"""

from baselines.otc.config import (BACKBONES, DISTANCES, SAMPLINGS, TABLE3, OTCConfig, Variant, online_reset_seeds,
                                  variants)
from baselines.otc.online import agent_dataset, collect_online, merge
from baselines.otc.protocol import OTCRunSpec, run_otc, variant_label
from baselines.otc.table import deployment_table

__all__ = ["BACKBONES", "DISTANCES", "SAMPLINGS", "TABLE3", "OTCConfig", "OTCRunSpec", "Variant", "agent_dataset",
           "collect_online", "deployment_table", "merge", "online_reset_seeds", "run_otc", "variant_label",
           "variants"]
