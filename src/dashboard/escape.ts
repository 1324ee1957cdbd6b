/**
 * HTML escaping for the dashboard. The page's script builds its markup from names operators chose
 * (switches, ports, extensions, VSIDs' routing domains); every such text goes through this function. The
 * page embeds this very function's source (page.ts), so the unit test checks what the browser runs.
 * Self-contained on purpose: no closure, no imports (it is serialized with Function.prototype.toString).
 */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"'`]/g, (c) => {
    switch (c) {
      case '&': return '&amp;';
      case '<': return '&lt;';
      case '>': return '&gt;';
      case '"': return '&quot;';
      case "'": return '&#39;';
      default: return '&#96;';
    }
  });
}
