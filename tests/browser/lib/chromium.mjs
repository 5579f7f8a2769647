// Debian's headless Chromium (or $CHROMIUM_BIN) with the flags the browser tests run it with.
// acceptAnyCertificate: for servers with a throwaway certificate (--ignore-certificate-errors).
import { chromium } from 'playwright-core';

export function launchChromium({ acceptAnyCertificate = false } = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    headless: true,
    timeout: 30_000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ...(acceptAnyCertificate ? ['--ignore-certificate-errors'] : [])],
  });
}
