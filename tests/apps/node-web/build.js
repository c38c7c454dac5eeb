// The Node.js example app's build script (`npm run build`): leaves build-output.txt.
"use strict";

const { pad } = require("left-pad-lite");

require("fs").writeFileSync("build-output.txt", `built ${pad("@VERSION@", 10)}\n`);
