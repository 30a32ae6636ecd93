// simulate.cjs evaluates ECR requests against resource and identity policies
// with @cloud-copilot/iam-simulate, an IAM evaluator written independently of
// ecr-warden. It reads a JSON array of cases on stdin and writes a JSON array
// of results (same order) on stdout. The truth-table test in this folder
// drives it; NODE_PATH points at the node_modules it was installed into.
//
// A case: {principal: "arn:..." | "anonymous", action, resource, resourceAccount,
//          context: {key: value | [values]}, resourcePolicy, identityPolicy, boundaryPolicy}
// A result: {result: "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied"} or {error: "..."}
'use strict'
const { runSimulation, anonymousPrincipal } = require('@cloud-copilot/iam-simulate')

async function main() {
  let input = ''
  for await (const chunk of process.stdin) input += chunk
  const cases = JSON.parse(input)
  const out = []
  for (const c of cases) {
    const anonymous = c.principal === 'anonymous'
    const sim = {
      request: {
        principal: anonymous ? anonymousPrincipal : c.principal,
        action: c.action,
        resource: { resource: c.resource, accountId: c.resourceAccount },
        contextVariables: c.context || {}
      },
      identityPolicies: anonymous || !c.identityPolicy ? [] : [{ name: 'identity', policy: c.identityPolicy }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: c.resourcePolicy || undefined,
      permissionBoundaryPolicies: c.boundaryPolicy ? [{ name: 'boundary', policy: c.boundaryPolicy }] : undefined
    }
    try {
      const r = await runSimulation(sim, {})
      if (r.resultType === 'error') {
        out.push({ error: JSON.stringify(r.errors) })
      } else {
        out.push({ result: r.overallResult })
      }
    } catch (e) {
      out.push({ error: String(e && e.stack ? e.stack : e) })
    }
  }
  process.stdout.write(JSON.stringify(out))
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n')
  process.exit(1)
})
