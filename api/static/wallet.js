// The browser wallet (EIP-1193, e.g. MetaMask): accounts, Sign-In with Ethereum (EIP-4361) and
// EIP-712 signatures. Keys never reach this page; the wallet signs. On a local dev chain
// (`make dashboard`) the API's dev sign-in helper can stand in for the wallet: it signs for the
// demo's accounts (api/dev.py; a real chain's API never offers it).
import { api } from "./api.js";
import { toChecksumAddress } from "./keccak.js";

let devAccount = sessionStorage.getItem("gridshare.devAccount");

/** Sign as `address` through the API's dev helper from now on (null: the browser wallet). */
export function useDevAccount(address) {
  devAccount = address;
  if (address) sessionStorage.setItem("gridshare.devAccount", address);
  else sessionStorage.removeItem("gridshare.devAccount");
}

/** The demo's accounts when the API offers the dev sign-in helper, else null. */
export async function devAccounts() {
  try {
    return await api("/dev/accounts", { auth: false });
  } catch {
    return null;
  }
}

function hexUtf8(hex) {
  const bytes = new Uint8Array((hex.length - 2) / 2).map((_, i) => parseInt(hex.slice(2 + 2 * i, 4 + 2 * i), 16));
  return new TextDecoder().decode(bytes);
}

const devProvider = {
  async request({ method, params }) {
    if (method === "eth_requestAccounts" || method === "eth_accounts") return [devAccount];
    if (method === "personal_sign") {
      const body = { address: params[1], message: hexUtf8(params[0]) };
      return (await api("/dev/sign-message", { method: "POST", body, auth: false })).signature;
    }
    if (method === "eth_signTypedData_v4") {
      const body = { address: params[0], typed_data: JSON.parse(params[1]) };
      return (await api("/dev/sign-typed-data", { method: "POST", body, auth: false })).signature;
    }
    throw new Error(`the dev sign-in helper does not do ${method}`);
  },
};

export function provider() {
  return devAccount ? devProvider : window.ethereum || null;
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
