// Starts `regate lsp` (the language server, over stdio) for .rg files and the JSON
// payloads beside them.  Everything else (diagnostics, completion, hover, definition,
// formatting, symbols) is the server's.
"use strict";
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const settings = vscode.workspace.getConfiguration("regate");
  const [command, ...args] = settings.get("command", ["regate", "lsp"]);
  client = new LanguageClient(
    "regate",
    "regate",
    { command, args },
    {
      documentSelector: [
        { scheme: "file", language: "regate" },
        { scheme: "file", language: "json", pattern: "**/*.json" },
      ],
      initializationOptions: { sourceRoots: settings.get("sourceRoots", []) },
    },
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
