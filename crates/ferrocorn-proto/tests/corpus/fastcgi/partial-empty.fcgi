description: no bytes at all: nothing to report
---
