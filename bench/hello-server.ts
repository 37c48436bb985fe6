// The physical reference for bench:api: the least a Node HTTP server can do per request.
import http from 'node:http';

const port = Number(process.argv[2] ?? 8080);
http
  .createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '12' });
      res.end('hello world\n');
    });
  })
  .listen(port, '127.0.0.1');
