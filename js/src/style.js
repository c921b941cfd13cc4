// Styles of the output grid on top of arroyo.css; JupyterLab theme variables throughout,
// so the light and dark themes both read well.
export const STYLE = `
.arroyo-output-grid .arroyo-grid { width: 100%; }
.arroyo-output-grid .arroyo-grid-wrap { position: relative; }
.arroyo-output-grid .arroyo-pop { position: absolute; z-index: 10; max-width: 90%; max-height: 320px; overflow: auto;
  display: flex; align-items: flex-start; gap: 4px; padding: 0 8px 0 2px;
  background: var(--jp-layout-color1, #fff); color: var(--jp-ui-font-color1, #1f1f1f);
  border: 1px solid var(--jp-brand-color1, #1976d2); border-radius: 4px; box-shadow: 0 4px 14px rgba(0, 0, 0, 0.25);
  font-family: var(--jp-code-font-family, monospace); font-size: 12px; }
.arroyo-output-grid .arroyo-select { font: inherit; color: inherit; background: var(--jp-layout-color1, #fff);
  border: 1px solid var(--jp-border-color1, #bbb); border-radius: 4px; padding: 1px 4px; }
.arroyo-output-grid .arroyo-btn { border-color: var(--jp-border-color1, #bbb); }
.arroyo-output-grid .arroyo-op-toggle { color: var(--jp-ui-font-color2, #666); }
.arroyo-output-grid .arroyo-status-stopped { color: var(--jp-warn-color0, #8a4b00); font-weight: 600; }
.arroyo-output-grid .arroyo-runs { color: var(--jp-ui-font-color2, #666); font-size: 12px; margin: 2px 0; }
.arroyo-output-grid .arroyo-runs:empty { display: none; }
.arroyo-output-grid .arroyo-null { color: var(--jp-ui-font-color3, #999); font-style: italic; }
.arroyo-output-grid .arroyo-nested { display: flex; align-items: flex-start; gap: 4px; }
.arroyo-output-grid .arroyo-toggle { border: none; background: none; color: var(--jp-brand-color1, #1976d2);
  cursor: pointer; padding: 0 2px; font: inherit; line-height: ${"24px"}; }
.arroyo-output-grid .arroyo-inline { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.arroyo-output-grid .arroyo-json { margin: 4px 0; font: inherit; line-height: 16px; white-space: pre; }
.arroyo-output-grid .arroyo-text { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; display: block; }
.arroyo-output-grid .ag-row.arroyo-updated { animation: arroyo-flash 1.2s ease-out; }
@keyframes arroyo-flash {
  from { background-color: color-mix(in srgb, var(--jp-brand-color1, #1976d2) 40%, transparent); }
  to { background-color: transparent; } }
.arroyo-output-grid .ag-row.arroyo-run-start { border-top: 2px dashed var(--jp-brand-color1, #1976d2); }
.arroyo-output-grid .arroyo-detail { border: 1px solid var(--jp-border-color2, #ddd); border-radius: 4px;
  margin-top: 6px; padding: 4px 8px; background: var(--jp-layout-color2, #f7f7f7); }
.arroyo-output-grid .arroyo-detail-head { display: flex; gap: 8px; align-items: center; }
.arroyo-output-grid .arroyo-detail-meta { color: var(--jp-ui-font-color2, #666); }
.arroyo-output-grid .arroyo-detail-body { max-height: 300px; overflow: auto; white-space: pre-wrap;
  word-break: break-word; font-family: var(--jp-code-font-family, monospace); font-size: 12px; }
`;
