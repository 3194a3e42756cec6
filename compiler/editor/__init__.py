"""What authors and approvers see: the language server (`lsp`), HTML reports (`html`),
the local playground (`playground`) and the terminal's colours (`terminal`).

These read the passes' public results (the AST, the diagnostics, a decision's JSON);
no pass depends on them.
"""
