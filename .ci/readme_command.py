"""Print the README's N-th ```bash block (0: set up and run the demo, 1: set up and run the tests),
so that .ci/run runs exactly what a new user copies and the two cannot drift."""
import re
import sys
from pathlib import Path

blocks = re.findall(r"```bash\n(.*?)\n```", (Path(__file__).resolve().parents[1] / "README.md").read_text(), flags=re.S)
print(blocks[int(sys.argv[1])].strip())
