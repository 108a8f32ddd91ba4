#!/usr/bin/env bash
# LocalStack ready hook: what the stack expects to exist before `samlocal deploy`.
#  - the data bucket, sending its object events to EventBridge (the ingest path);
#  - the tile-index table in cogeo-mosaic's layout (the stack is pointed at it with
#    IndexTableName, as at an existing cogeo-mosaic table);
#  - a "tap" queue that receives a copy of every object event, to watch uploads arrive.
set -euo pipefail
bucket=${MOSAIC_BUCKET:-mosaic-data}
table=${MOSAIC_TABLE:-mosaic-index}
tap=${MOSAIC_TAP_QUEUE:-mosaic-events-tap}

awslocal s3 mb "s3://$bucket"
awslocal s3api put-bucket-notification-configuration --bucket "$bucket" \
  --notification-configuration '{"EventBridgeConfiguration": {}}'

awslocal dynamodb create-table --table-name "$table" \
  --attribute-definitions AttributeName=mosaicId,AttributeType=S AttributeName=quadkey,AttributeType=S \
  --key-schema AttributeName=mosaicId,KeyType=HASH AttributeName=quadkey,KeyType=RANGE \
  --billing-mode PAY_PER_REQUEST >/dev/null

queue_url=$(awslocal sqs create-queue --queue-name "$tap" --query QueueUrl --output text)
queue_arn=$(awslocal sqs get-queue-attributes --queue-url "$queue_url" \
  --attribute-names QueueArn --query Attributes.QueueArn --output text)
awslocal events put-rule --name "$tap" \
  --event-pattern "{\"source\":[\"aws.s3\"],\"detail\":{\"bucket\":{\"name\":[\"$bucket\"]}}}" >/dev/null
awslocal events put-targets --rule "$tap" --targets "Id=tap,Arn=$queue_arn" >/dev/null
echo "mosaic: bucket $bucket (EventBridge on), table $table, tap queue $tap ready"
