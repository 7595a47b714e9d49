// The ceiling for any JS engine on Bun.listen: no parsing, no app, one precomputed response per
// request head seen (counted by its CRLFCRLF). NOT a correct server; it only bounds the others.
const body = "Hello World";
const response = `HTTP/1.1 200 OK\r\ncontent-type: text/plain;charset=utf-8\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
const END = Buffer.from("\r\n\r\n");

const listener = Bun.listen({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  socket: {
    data(socket, data) {
      let n = 0;
      for (let i = data.indexOf(END); i >= 0; i = data.indexOf(END, i + 4)) n++;
      if (n > 0) socket.write(n === 1 ? response : response.repeat(n));
    },
  },
});
console.log(`ready ${listener.port}`);
