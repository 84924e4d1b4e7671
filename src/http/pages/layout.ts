import { escapeHtml } from "../html.js";

const STYLE = `
body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;display:flex;justify-content:center}
main{background:#fff;margin-top:8vh;padding:2rem 2.5rem;border-radius:12px;box-shadow:0 2px 12px #0002;width:min(26rem,90vw)}
h1{font-size:1.3rem;margin-top:0}label{display:block;margin:.8rem 0 .3rem}
input[type=email],input[type=password]{width:100%;padding:.55rem;box-sizing:border-box;border:1px solid #bbb;border-radius:6px}
button{padding:.6rem 1.2rem;border-radius:6px;border:1px solid #555;background:#fff;cursor:pointer;margin:1rem .5rem 0 0}
button.primary{background:#3b5bdb;border-color:#3b5bdb;color:#fff}.error{color:#b00020}ul{padding-left:1.2rem}
`;

export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>`;
}
