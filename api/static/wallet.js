// The browser wallet (EIP-1193, e.g. MetaMask): accounts, Sign-In with Ethereum (EIP-4361) and
// EIP-712 signatures. Keys never reach this page; the wallet signs.
import { toChecksumAddress } from "./keccak.js";

export function provider() {
  return window.ethereum || null;
}

function utf8Hex(text) {
  return "0x" + Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function account() {
  const eth = provider();
  if (!eth) throw new Error("No Ethereum wallet found in this browser: install one (e.g. MetaMask) to sign in.");
  const accounts = await eth.request({ method: "eth_requestAccounts" });
  if (!accounts || !accounts.length) throw new Error("The wallet gave no account.");
  return toChecksumAddress(accounts[0]);
}

/** The EIP-4361 message, laid out as the standard (and the API's parser) wants it. */
export function siweMessage({ domain, address, uri, chainId, nonce, issuedAt }) {
  return [
    `${domain} wants you to sign in with your Ethereum account:`,
    address,
    "",
    "Sign in to gridshare",
    "",
    `URI: ${uri}`,
    "Version: 1",
    `Chain ID: ${chainId}`,
    `Nonce: ${nonce}`,
    `Issued At: ${issuedAt}`,
  ].join("\n");
}

export async function signText(address, text) {
  return provider().request({ method: "personal_sign", params: [utf8Hex(text), address] });
}

/** Large integers go to the wallet as decimal strings (wallets parse JSON numbers as floats). */
function forWallet(value) {
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return value.map(forWallet);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, forWallet(v)]));
  if (typeof value === "number" && !Number.isSafeInteger(value)) throw new Error("inexact integer in typed data");
  return value;
}

export async function signTypedData(address, typedData) {
  return provider().request({ method: "eth_signTypedData_v4", params: [address, JSON.stringify(forWallet(typedData))] });
}
